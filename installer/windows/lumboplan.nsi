; LumboPlan's Windows installer (NSIS 3, Unicode): installs PyInstaller's one-folder bundle
; into Program Files, adds a Start-menu entry and an uninstaller (Apps & features), and runs
; silently with /S (IT: LumboPlan-VERSION-setup.exe /S [/D=C:\path]; the uninstaller too).
; NSIS because it is one compiler that runs on Linux (Debian package nsis) as well as Windows:
; the script is compiled here against a stub payload (tests/test_installer.py) and for real by
; the Windows CI job (.github/workflows/windows-installer.yml).
;   makensis /DVERSION=0.1.0 /DPAYLOAD=dist/LumboPlan /DOUTFILE=LumboPlan-0.1.0-setup.exe lumboplan.nsi

Unicode true
SetCompressor /SOLID lzma
RequestExecutionLevel admin
ManifestDPIAware true

!ifndef VERSION
  !define VERSION "0.1.0"
!endif
!ifndef PAYLOAD
  !define PAYLOAD "..\..\build\installer\dist\LumboPlan"
!endif
!ifndef OUTFILE
  !define OUTFILE "LumboPlan-${VERSION}-setup.exe"
!endif
!define UNINSTALL_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\LumboPlan"

!include "MUI2.nsh"
!include "x64.nsh"

Name "LumboPlan ${VERSION}"
OutFile "${OUTFILE}"
InstallDir "$PROGRAMFILES64\LumboPlan"
InstallDirRegKey HKLM "${UNINSTALL_KEY}" "InstallLocation"
BrandingText "LumboPlan ${VERSION}"
VIProductVersion "${VERSION}.0"
VIAddVersionKey "ProductName" "LumboPlan"
VIAddVersionKey "ProductVersion" "${VERSION}"
VIAddVersionKey "FileDescription" "LumboPlan installer"
VIAddVersionKey "FileVersion" "${VERSION}"
VIAddVersionKey "LegalCopyright" "LumboPlan"

!define MUI_ABORTWARNING
!define MUI_FINISHPAGE_RUN "$INSTDIR\lumboplan-gui.exe"
!define MUI_FINISHPAGE_RUN_TEXT "Start LumboPlan"
!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_PAGE_FINISH
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_INSTFILES
!insertmacro MUI_LANGUAGE "English"

Function .onInit
  ${IfNot} ${RunningX64}
    MessageBox MB_ICONSTOP "LumboPlan needs 64-bit Windows." /SD IDOK
    Abort
  ${EndIf}
  SetRegView 64
FunctionEnd

Function un.onInit
  SetRegView 64
FunctionEnd

Section "LumboPlan" SecMain
  SectionIn RO
  ; An earlier version's files go first, so none of its libraries is left beside the new ones.
  RMDir /r "$INSTDIR\_internal"
  SetOutPath "$INSTDIR"
  File /r "${PAYLOAD}/*"
  WriteUninstaller "$INSTDIR\uninstall.exe"
  SetShellVarContext all
  CreateShortcut "$SMPROGRAMS\LumboPlan.lnk" "$INSTDIR\lumboplan-gui.exe" "" \
    "$INSTDIR\lumboplan-gui.exe" 0 SW_SHOWNORMAL "" "Plan PELD at L5/S1 from lumbar MR"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "DisplayName" "LumboPlan"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "Publisher" "LumboPlan"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "DisplayIcon" "$INSTDIR\lumboplan-gui.exe"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "UninstallString" '"$INSTDIR\uninstall.exe"'
  WriteRegStr HKLM "${UNINSTALL_KEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /S'
  WriteRegDWORD HKLM "${UNINSTALL_KEY}" "NoModify" 1
  WriteRegDWORD HKLM "${UNINSTALL_KEY}" "NoRepair" 1
SectionEnd

Section "Uninstall"
  SetShellVarContext all
  Delete "$SMPROGRAMS\LumboPlan.lnk"
  RMDir /r "$INSTDIR\_internal"
  Delete "$INSTDIR\lumboplan.exe"
  Delete "$INSTDIR\lumboplan-gui.exe"
  Delete "$INSTDIR\uninstall.exe"
  RMDir "$INSTDIR"
  DeleteRegKey HKLM "${UNINSTALL_KEY}"
SectionEnd
