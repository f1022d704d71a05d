"""The browser UI (HTML, CSS and JavaScript; no Python), installed as the package `bulkmsg_ui` so that
`importlib.resources` finds its files in any install (backend/app.py `frontend_dir`)."""
