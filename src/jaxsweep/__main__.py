from jaxsweep.app.cli import main

main()
