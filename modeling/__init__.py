"""The science core of PsychoSafe Studio: plain Python, no Django imports.

Datasets, LoRA training, generation backends, the judge, the refusal classifier and the
statistics live here so that the web app, the Celery workers and the command line
(`python -m modeling`) all call the same functions.
"""
