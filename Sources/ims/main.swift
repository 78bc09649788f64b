print("ims")
