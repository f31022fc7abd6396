from ostiary.cli.entry import main

raise SystemExit(main())
