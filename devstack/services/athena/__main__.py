from devstack.services.athena.server import main

main()
