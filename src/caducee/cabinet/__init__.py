"""The top floor: the use cases and screens that compose several apps (issue 12 §1).

The chart, the one-click consultation validation (documents, DMP, MSSanté), the document screens that show the DMP
and MSS states, patient creation from the carte Vitale, the top-bar messaging counter, the VSM command and
`caducee demo` with its data. Nothing below imports this app (tests/architecture/test_imports.py)."""
