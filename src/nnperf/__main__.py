from nnperf.cli.main import main

raise SystemExit(main())
