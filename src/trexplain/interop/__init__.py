"""Bridges to other libraries: transformers pipelines in (`pipelines`), shap explanations out (`shap`)."""
