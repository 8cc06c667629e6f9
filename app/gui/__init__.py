"""The PySide6 desktop app: a thin client of `app.core` that only draws and forwards."""

from app.gui.pyside_fix import keep_singletons_alive

keep_singletons_alive()
