"""Experiment tracking: experiments, runs, params, metrics, tags, dataset inputs and lineage."""
