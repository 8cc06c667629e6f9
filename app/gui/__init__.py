"""The PySide6 desktop app: a thin client of `app.core` that only draws and forwards."""
