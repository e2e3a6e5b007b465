"""Reports people look at: a self-contained HTML page per run, with plotly charts."""
