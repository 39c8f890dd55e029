"""Markdown tables and sizes for the export, benchmark and training reports (pure Python)."""


def markdown_table(rows, columns):
    """A GitHub markdown table: `columns` is a list of `(header, key_or_function)`."""
    def cell(row, getter):
        value = getter(row) if callable(getter) else row.get(getter, "")
        if isinstance(value, float):
            return f"{value:.4g}"
        return "" if value is None else str(value)

    lines = ["| " + " | ".join(header for header, _ in columns) + " |",
             "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(cell(row, getter) for _, getter in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def megabytes(size_bytes):
    """`"1.23 MB"` (decimal megabytes, as file sizes are quoted in the reports)."""
    return f"{size_bytes / 1e6:.2f} MB"
