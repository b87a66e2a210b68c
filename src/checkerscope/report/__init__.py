"""The pages: the reproduce report and the audit page, from results and figures alone.

``schema`` lays out results.json (the runner writes it, ``reproduce_page`` reads it);
``figures/`` holds the figure functions (numbers in, Figure out); ``html`` renders the Jinja2
templates; ``chromium`` takes screenshots. Nothing here imports the experiments or the CLI.
"""
