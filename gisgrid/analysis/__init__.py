"""What analysts read: heat (kde, hex, area counts), folium maps, evaluation."""
