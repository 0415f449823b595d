"""The Docker-free local stack: emulator processes, Glue-like job execution, bootstrap."""
