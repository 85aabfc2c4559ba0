"""Portfolio analytics over the close of business's daily snapshots (roll rates, vintages, NPL, EL)."""
