"""daihou.risk — PD models and their monitoring, beside `batch` (see docs/models.md).

Owns: monotone WOE binning (`binning`), the points scorecard and its scaling (`scorecard`,
`scaling`), the LightGBM challenger (`lgbm`), discrimination/calibration/stability numbers
(`metrics`), model cards and charts (`card`), versioned artefacts on disk (`registry`), scoring a
file (`scoring`) and the generic training path from a CSV (`train`).

Floats are fine here: nothing in this package is money. It imports no storage, service or CLI code;
the CLI (`daihou.cli.model_cmd`) calls it and passes the data folder and the clock's timestamp in.
"""
