"""Web control panel (FastAPI): settings, background library, live preview, status, metrics."""
