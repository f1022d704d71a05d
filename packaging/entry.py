"""PyInstaller entry script of the packaged app (see desktop/frozen.py for what the executable does)."""

import multiprocessing

if __name__ == "__main__":
    # First of all: a spawned worker process (the contacts importer's pool) runs its task and exits here.
    multiprocessing.freeze_support()
    from bulkmsg_desktop.frozen import main

    raise SystemExit(main())
