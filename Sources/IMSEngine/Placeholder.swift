enum _PlaceholderIMSEngine {}
