"""gisgrid's HTTP API (FastAPI). Depends on gisgrid; gisgrid never imports this."""
