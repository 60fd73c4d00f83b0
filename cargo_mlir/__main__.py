from cargo_mlir.cli import main

raise SystemExit(main())
