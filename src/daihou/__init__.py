"""daihou (贷后): post-loan management for Chinese lenders."""

__version__ = "0.1.0"
