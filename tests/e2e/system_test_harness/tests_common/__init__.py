"""Stand-ins for the parts of Airflow's ``tests_common`` the Amazon provider's system-test DAGs
import (the package ships with Airflow's source tree, not with the provider)."""
