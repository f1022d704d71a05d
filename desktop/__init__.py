"""The desktop shell: the backend in-process on loopback, shown in a native pywebview window."""
