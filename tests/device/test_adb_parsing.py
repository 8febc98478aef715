"""Parsers of AdbDevice on outputs shaped like real phones' (AOSP formats of Android 9-14)."""

from __future__ import annotations

from llamatouch.device.adb import parse_foreground, parse_wm_size


def test_resumed_activity_formats() -> None:
    android9 = ("  Stack #1: type=standard mode=fullscreen\n"
                "    mResumedActivity: ActivityRecord{5d8e0f4 u0 com.android.settings/"
                ".Settings t17}\n")
    android12 = ("    topResumedActivity=ActivityRecord{b1a0c3e u0 com.google.android.apps.nexus"
                 "launcher/.NexusLauncherActivity t2}\n")
    android14 = ("  ResumedActivity: ActivityRecord{2f1c9a8 u0 org.fossify.notes/"
                 "org.fossify.notes.activities.MainActivity t31}\n")
    assert parse_foreground(android9) == "com.android.settings/.Settings"
    assert parse_foreground(android12) == \
        "com.google.android.apps.nexuslauncher/.NexusLauncherActivity"
    assert parse_foreground(android14) == "org.fossify.notes/.activities.MainActivity"


def test_current_focus_fallback_and_none() -> None:
    window = ("  mCurrentFocus=Window{8c1e2f u0 com.example.app/com.example.app.ui.MainActivity}\n"
              "  mFocusedApp=ActivityRecord{...}\n")
    assert parse_foreground(window) == "com.example.app/.ui.MainActivity"
    assert parse_foreground("  mCurrentFocus=null\n") is None


def test_wm_size() -> None:
    assert parse_wm_size("Physical size: 1080x2400\n") == (1080, 2400)
    assert parse_wm_size("Physical size: 1440x3120\nOverride size: 1080x2340\n") == (1080, 2340)
    assert parse_wm_size("error") is None
