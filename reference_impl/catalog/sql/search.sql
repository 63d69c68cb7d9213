-- Search over the index (never the source). Filters are optional: a NULL parameter means "any".
-- Facets count the whole matched set with every filter applied, so facet counts add up to `total`.

-- name: search
SELECT sku, title, brand, category, price, rating, image, source_version,
       CASE WHEN :q::text IS NULL THEN 0
            ELSE ts_rank_cd(tsv, websearch_to_tsquery('english', :q)) END AS score
  FROM search_docs
 WHERE (:q::text IS NULL OR tsv @@ websearch_to_tsquery('english', :q))
   AND (:brand::text IS NULL OR brand = :brand)
   AND (:category::text IS NULL OR category = :category)
   AND (:price_min::numeric IS NULL OR price >= :price_min)
   AND (:price_max::numeric IS NULL OR price <= :price_max)
   AND (:rating_min::numeric IS NULL OR rating >= :rating_min)
 ORDER BY score DESC, popularity DESC, sku
 LIMIT :size OFFSET :offset;

-- name: facets
-- price: width_bucket over the edges (0 = below the first edge); rating: "at least t stars", cumulative.
WITH m AS (
    SELECT brand, category, price, rating
      FROM search_docs
     WHERE (:q::text IS NULL OR tsv @@ websearch_to_tsquery('english', :q))
       AND (:brand::text IS NULL OR brand = :brand)
       AND (:category::text IS NULL OR category = :category)
       AND (:price_min::numeric IS NULL OR price >= :price_min)
       AND (:price_max::numeric IS NULL OR price <= :price_max)
       AND (:rating_min::numeric IS NULL OR rating >= :rating_min)
)
SELECT 'total' AS facet, '' AS value, count(*) AS n FROM m
UNION ALL
SELECT 'brand', brand, count(*) FROM m GROUP BY brand
UNION ALL
SELECT 'category', category, count(*) FROM m GROUP BY category
UNION ALL
SELECT 'price', width_bucket(price, :price_edges::numeric[])::text, count(*) FROM m GROUP BY 2
UNION ALL
SELECT 'rating', t::text, (SELECT count(*) FROM m WHERE m.rating >= t)
  FROM unnest(:rating_steps::numeric[]) AS t;
