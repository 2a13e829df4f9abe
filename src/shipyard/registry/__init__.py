"""The model registry: logged models, registered models, versions, tags, aliases and stages."""
