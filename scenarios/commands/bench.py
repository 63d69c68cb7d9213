def main(args):
    raise ValueError("bench is not built yet")
