from devstack.services.mwaa.server import main

main()
