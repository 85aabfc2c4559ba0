"""The REST API under /api/v1 (FastAPI): a thin driver over the service and workflows."""
