"""The read-only JSON API (/api/v1): what a person's personal access token lets a program read on their behalf.

``schemas`` holds the answers' pydantic models, ``openapi`` the OpenAPI document built from them; the routes
are in ``workshop/views/api.py``.
"""
