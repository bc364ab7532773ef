"""Every question and message box the window asks or shows, in one place.

Plain functions of the parent widget: file and folder choosers (:class:`QFileDialog`), the
questions (unsaved changes, recovering an autosave), the error and about boxes and the series
chooser. The window's methods of the same names call them; tests replace those methods, or
:class:`QFileDialog`'s static methods, to answer without a person.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from lumboplan_app.gui.series_dialog import SeriesChooserDialog

if TYPE_CHECKING:
    from lumboplan_app.io.series import SeriesInfo


def _image_patterns() -> str:
    from lumboplan_app.io import VOLUME_SUFFIXES

    return " ".join(f"*{suffix}" for suffix in VOLUME_SUFFIXES)


def ask_folder(parent: QWidget, title: str, start: Path) -> Path | None:
    """Ask for a folder (a DICOM series); None if the surgeon cancels."""
    chosen = QFileDialog.getExistingDirectory(parent, title, str(start))
    return Path(chosen) if chosen else None


def ask_image_file(
    parent: QWidget, title: str, start: Path, kind: str = "Images", all_files: bool = False
) -> Path | None:
    """Ask for a NIfTI, NRRD or MetaImage file; None if the surgeon cancels.

    ``kind`` names the files in the filter ("Images", "Label maps"); ``all_files`` offers a
    second filter that shows every file.
    """
    filters = f"{kind} ({_image_patterns()})"
    if all_files:
        filters += ";;All files (*)"
    chosen, _ = QFileDialog.getOpenFileName(parent, title, str(start), filters)
    return Path(chosen) if chosen else None


def ask_case_file(parent: QWidget, start: Path) -> Path | None:
    """Ask for a case file to open; None if the surgeon cancels."""
    from lumboplan_app.session import CASE_SUFFIX

    chosen, _ = QFileDialog.getOpenFileName(
        parent, "Open case", str(start), f"LumboPlan case (*{CASE_SUFFIX})"
    )
    return Path(chosen) if chosen else None


def ask_save_case(parent: QWidget, suggested: Path) -> Path | None:
    """Ask where to save the case (the dialog asks before overwriting); None if cancelled."""
    from lumboplan_app.session import CASE_SUFFIX

    dialog = QFileDialog(parent, "Save case", str(suggested), f"LumboPlan case (*{CASE_SUFFIX})")
    dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
    dialog.setDefaultSuffix(CASE_SUFFIX.lstrip("."))  # the dialog then asks before overwriting
    if not dialog.exec() or not dialog.selectedFiles():
        return None
    return Path(dialog.selectedFiles()[0])


def ask_model_file(parent: QWidget, start: Path) -> Path | None:
    """Ask for a fine-tuned model's weights (``.safetensors``); None if the surgeon cancels."""
    chosen, _ = QFileDialog.getOpenFileName(
        parent, "Use a fine-tuned model", str(start), "Model weights (*.safetensors)"
    )
    return Path(chosen) if chosen else None


def ask_report_path(parent: QWidget, start: Path) -> Path | None:
    """Ask where to save the PDF report; None if the surgeon cancels."""
    chosen, _ = QFileDialog.getSaveFileName(
        parent, "Export report", str(start / "report.pdf"), "PDF (*.pdf)"
    )
    return Path(chosen) if chosen else None


def ask_export_path(parent: QWidget, start: Path) -> tuple[Path, bool] | None:
    """Ask where and in which format to export the case, and whether to de-identify it.

    The format is the chosen name's ending (the filter's, when the name has none); the DICOM
    formats ask whether to leave the patient's identifiers out. None if the surgeon cancels.
    """
    from lumboplan_app.exchange.export import EXPORT_FORMATS

    filters = [f"{what} (*{ending})" for ending, what in EXPORT_FORMATS.items()]
    chosen, selected = QFileDialog.getSaveFileName(
        parent, "Export", str(start / "case.seg.nrrd"), ";;".join(filters)
    )
    if not chosen:
        return None
    path = Path(chosen)
    if not any(path.name.lower().endswith(ending) for ending in EXPORT_FORMATS):
        ending = next(e for e, f in zip(EXPORT_FORMATS, filters, strict=True) if f == selected)
        path = path.with_name(path.name + ending)
    if not path.name.lower().endswith(".dcm"):
        return path, False
    answer = QMessageBox.question(
        parent,
        "De-identify?",
        "Leave the patient's name, ID and birth date out of the DICOM file?\n\n"
        "Yes for research or teaching; No for the patient's record in PACS.",
        QMessageBox.StandardButton.Yes
        | QMessageBox.StandardButton.No
        | QMessageBox.StandardButton.Cancel,
    )
    if answer == QMessageBox.StandardButton.Cancel:
        return None
    return path, answer == QMessageBox.StandardButton.Yes


def ask_scan_path(
    parent: QWidget, case_name: str, reference: str | None, start: Path
) -> Path | None:
    """Ask where the scan of the case ``case_name`` is now; None if the surgeon cancels.

    ``reference`` is where the scan was: a folder is asked for, or an image file if the scan was
    one.
    """
    from lumboplan_app.io import VOLUME_SUFFIXES

    title = f"Where is the scan of {case_name} now?"
    if reference is not None and reference.lower().endswith(VOLUME_SUFFIXES):
        return ask_image_file(parent, title, start)
    return ask_folder(parent, f"{title} (its DICOM folder)", start)


def ask_unsaved_changes(parent: QWidget) -> QMessageBox.StandardButton:
    """Ask whether to save the case's changes: Save, Discard or Cancel."""
    box = QMessageBox(
        QMessageBox.Icon.Question,
        "Save the case?",
        "The case has changes that are not saved (labels, plan or channels).",
        QMessageBox.StandardButton.Save
        | QMessageBox.StandardButton.Discard
        | QMessageBox.StandardButton.Cancel,
        parent,
    )
    box.setObjectName("unsavedBox")
    box.setDefaultButton(QMessageBox.StandardButton.Save)
    return QMessageBox.StandardButton(box.exec())


def ask_recovery(parent: QWidget, description: str) -> str:
    """Ask what to do with an autosave: ``"recover"``, ``"discard"`` or ``"later"``."""
    box = QMessageBox(
        QMessageBox.Icon.Question,
        "Recover unsaved work?",
        f"LumboPlan closed without saving a case: {description}.\n\n"
        "Recover it to go on where you were, or discard it.",
        QMessageBox.StandardButton.NoButton,
        parent,
    )
    box.setObjectName("recoveryBox")
    recover = box.addButton("Recover", QMessageBox.ButtonRole.AcceptRole)
    discard = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
    box.addButton("Later", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(recover)
    box.exec()
    clicked = box.clickedButton()
    return "recover" if clicked is recover else "discard" if clicked is discard else "later"


def open_error_box(parent: QWidget, message: str, title: str) -> QMessageBox:
    """Open a window-modal error box (it does not block the event loop) and return it."""
    box = QMessageBox(
        QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, parent
    )
    box.setObjectName("errorBox")
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.open()
    return box


def open_about_box(parent: QWidget, version: str, model: str) -> QMessageBox:
    """Open the about box: the version, what LumboPlan is for, the model's card (``model``)."""
    box = QMessageBox(
        QMessageBox.Icon.Information,
        "About LumboPlan",
        f"LumboPlan {version}\n\n"
        "Preoperative planning of percutaneous endoscopic lumbar discectomy (PELD) at "
        "L5/S1 from MR.\n\n"
        f"Segmentation model\n{model}\n\n"
        "LumboPlan supports the surgeon's judgement; it does not replace it.",
        QMessageBox.StandardButton.Ok,
        parent,
    )
    box.setObjectName("aboutBox")
    box.open()
    return box


def series_chooser(
    parent: QWidget, series: list[SeriesInfo], preferred_description: str = ""
) -> SeriesChooserDialog:
    """Return the series chooser (deleted once closed), the preferred series selected.

    The series whose description is ``preferred_description`` is selected when it is the one
    loadable series so described.
    """
    dialog = SeriesChooserDialog(series, parent)
    preferred = [
        info for info in series if info.loadable and info.description == preferred_description
    ]
    if preferred_description and len(preferred) == 1:
        dialog.select_index(preferred[0].index)
    dialog.finished.connect(dialog.deleteLater)
    return dialog
