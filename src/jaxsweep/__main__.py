from jaxsweep.cli import main

main()
