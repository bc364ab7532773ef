"""Planning: distance fields, the working channel, contacts and measurements (DESIGN.md)."""
