"""The PDF report: figures rendered off-screen and the reportlab document."""
