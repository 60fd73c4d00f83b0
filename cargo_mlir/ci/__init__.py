"""`cargo mlir ci`: one CI step with JUnit XML and a Markdown summary."""
