from ostiary.cli.main import main

raise SystemExit(main())
