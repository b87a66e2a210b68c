"""``python -m checkerscope``: the command line, as ``checkerscope``; also ``torchrun -m``.

Example:
    torchrun --standalone --nproc_per_node 2 -m checkerscope reproduce --scale quick \\
        --only gan_training --out runs/ddp
"""

from checkerscope.cli import app

if __name__ == "__main__":
    app(prog_name="checkerscope")
