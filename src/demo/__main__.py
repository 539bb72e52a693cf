"""``python -m demo``: regenerate the synthetic exports (a deliberate change, see README)."""

from demo.generate import generate

if __name__ == "__main__":
    res = generate()
    for y, p in res.files.items():
        print(y, p)
