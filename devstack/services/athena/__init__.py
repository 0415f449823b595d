"""A local Amazon Athena API over the stack's Data Catalog (the local Glue API), split as moto
splits a service: ``models`` (query executions, workgroups, results), ``responses`` (Athena's
JSON protocol, one method per operation), ``exceptions`` (one class per AWS error code),
``ddl`` (the DDL statements Athena runs against the catalog) and ``engine`` (DuckDB executing a
query over the files of the partitions the catalog lists)."""
