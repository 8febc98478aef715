"""The annotation web app (``llamatouch annotate``): Flask, plain HTML/CSS/JS, no build step."""
