"""probes: declarative health checks with JUnit, HTML and JSON reports."""
