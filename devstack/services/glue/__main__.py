"""``python -m devstack.services.glue``: the local Glue API (see the package's docstring)."""

from devstack.services.glue.server import main

main()
