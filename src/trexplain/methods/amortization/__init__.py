"""What the `amortized` method runs: a fitted explainer (network, out-of-distribution check, hidden-state features)
loaded from its folder. Fitting one is `trexplain.amortize`'s job; this package stays below it so that the method
registry never imports the fitting code (dataset runs, the study)."""
