"""The HTTP shell: parse requests, call protocol code, render results."""
