"""`python -m img2gs ...` is the `img2gs` command (what `torchrun -m img2gs train teacher ...` starts)."""

from img2gs.cli import main

if __name__ == "__main__":
    main()
