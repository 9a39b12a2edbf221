from alarmrx.cli import main

raise SystemExit(main())
