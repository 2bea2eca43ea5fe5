"""dockerbench: CIS Docker Benchmark v1.6.0 audits of Docker hosts.

The engine is plain Python: it must never import Django or Celery.
"""

__version__ = "0.1.0"
