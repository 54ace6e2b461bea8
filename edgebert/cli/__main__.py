from edgebert.cli import main

main()
